"""asyncio client and server, a drop-in for ``websockets.asyncio``."""
