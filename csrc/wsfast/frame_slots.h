/* Building wsfast.frames.Frame instances without running their dataclass __init__.
 *
 * A frame reader builds a Frame per control frame or fragment; going through the class's
 * __init__ (argument parsing plus six setattr calls) is the larger part of parsing a small
 * one. Frame is a slotted dataclass whose __init__ only assigns its fields, so allocating
 * the instance and storing each field in its slot gives the same object. The reader checks,
 * once, that the class really is laid out that way (wsfast_uses_object_new, and
 * wsfast_slot_offset for each field) and falls back to setattr otherwise.
 *
 * Header-only: the functions are static, used by _speedups.pyx alone.
 */
#ifndef WSFAST_FRAME_SLOTS_H
#define WSFAST_FRAME_SLOTS_H

#include <Python.h>
#include <structmember.h>

/* object.__new__(cls): an instance without running cls.__init__. */
static PyObject *wsfast_bare_instance(PyObject *cls)
{
    PyObject *no_args = PyTuple_New(0), *instance;
    if (no_args == NULL) return NULL;
    instance = ((PyTypeObject *)cls)->tp_new((PyTypeObject *)cls, no_args, NULL);
    Py_DECREF(no_args);
    return instance;
}

/* Where a __slots__ attribute lives in its instances, or -1 if descr is not a writable
 * object slot (then attributes go through setattr). */
static Py_ssize_t wsfast_slot_offset(PyObject *descr)
{
    PyMemberDef *member;
    if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
    member = ((PyMemberDescrObject *)descr)->d_member;
    if (member->type != T_OBJECT_EX || (member->flags & READONLY)) return -1;
    return member->offset;
}

/* What object.__new__(cls) does once it has checked its arguments: for a class that
 * doesn't override __new__ (checked when binding), the allocation is all there is. */
static PyObject *wsfast_alloc_instance(PyObject *cls)
{
    return ((PyTypeObject *)cls)->tp_alloc((PyTypeObject *)cls, 0);
}

/* Whether instances of cls are made by object.__new__ itself. */
static int wsfast_uses_object_new(PyObject *cls)
{
    return ((PyTypeObject *)cls)->tp_new == PyBaseObject_Type.tp_new;
}

/* A fresh instance's slot, empty until now: no reference to drop. */
static void wsfast_fill_slot(PyObject *instance, Py_ssize_t offset, PyObject *value)
{
    Py_INCREF(value);
    *(PyObject **)((char *)instance + offset) = value;
}

#endif
