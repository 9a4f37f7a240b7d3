# Writing a fresh object's __slots__ directly, at the offsets their member
# descriptors name, for the compiled modules that make many small objects
# (riskwatch/plain_record.pyx: Transactions; detectors/fold.pyx: StateUpdates),
# and reading them (SlotReader: fold's EventCodes, the feature builder).
# A slot is used only if it is a writable object slot (T_OBJECT_EX, not
# READONLY), which is what __slots__ makes; callers refuse the class
# otherwise. Included (``include "...object_slots.pxi"``), so that this one
# copy is what both rely on.

cdef extern from *:
    """
    #include <structmember.h>
    /* The byte offset of slot ``name`` of ``type`` (an object slot that a missing value
       leaves unset, as __slots__ makes), or -1 if it is no such slot. */
    static Py_ssize_t rw_slot_offset(PyObject* type, PyObject* name) {
        PyObject* d = _PyType_Lookup((PyTypeObject*)type, name);
        PyMemberDef* m;
        if (d == NULL || Py_TYPE(d) != &PyMemberDescr_Type) return -1;
        m = ((PyMemberDescrObject*)d)->d_member;
        if (m->type != T_OBJECT_EX || (m->flags & READONLY)) return -1;
        return m->offset;
    }
    /* Set an unset slot (a fresh instance's: nothing to release first) at ``offset``
       to ``value``, as the member descriptor would. */
    static void rw_set_slot(PyObject* o, Py_ssize_t offset, PyObject* value) {
        Py_INCREF(value);
        *(PyObject**)((char*)o + offset) = value;
    }
    """
    Py_ssize_t rw_slot_offset(object type, object name) except? -2
    void rw_set_slot(object o, Py_ssize_t offset, object value) noexcept


cimport cython


cdef Py_ssize_t slot_offset(type cls, str name) except -1:
    """Where an instance of ``cls`` keeps slot ``name`` (rw_slot_offset), or TypeError
    if it is no plain object slot: the one check every user of these offsets makes."""
    cdef Py_ssize_t offset = rw_slot_offset(cls, name)
    if offset < 0:
        raise TypeError(f"{cls.__name__}.{name} is not a plain slot")
    return offset


cdef extern from *:
    """
    /* The object in the slot at ``offset`` of ``o`` (borrowed), or NULL while it is unset. */
    static PyObject* rw_get_slot(PyObject* o, Py_ssize_t offset) {
        return *(PyObject**)((char*)o + offset);
    }
    """
    PyObject* rw_get_slot(object o, Py_ssize_t offset) noexcept


cdef enum:
    _MAX_READ_SLOTS = 32


@cython.final
cdef class SlotReader:
    """Reads slots of one class's instances at their offsets, as a look-up by name would.

    A look-up by name (``PyObject_GenericGetAttr``: the class's member descriptor,
    then its getter) costs ~200 instructions; a property, a Python frame. Slot i
    of an instance of exactly ``cls`` is read at its offset; while that slot is
    unset, or for an instance of any other class, it is ``getattr(o, attrs[i])``
    (for a cache slot, the property that fills it). ``cls`` None reads every
    attribute by name.
    """

    cdef type cls
    cdef tuple attrs
    cdef Py_ssize_t n
    cdef Py_ssize_t offsets[_MAX_READ_SLOTS]

    def __init__(self, type cls, tuple slots, tuple attrs):
        if len(slots) != len(attrs) or len(slots) > _MAX_READ_SLOTS:
            raise ValueError(f"{len(slots)} slots, {len(attrs)} attributes")
        for i, name in enumerate(slots if cls is not None else ()):
            self.offsets[i] = slot_offset(cls, name)
        self.cls = cls
        self.attrs = attrs
        self.n = len(slots)

    cdef inline object get(self, object o, Py_ssize_t i):
        cdef PyObject* v
        if type(o) is self.cls:
            v = rw_get_slot(o, self.offsets[i])
            if v != NULL:
                return <object>v
        return getattr(o, <str>self.attrs[i])
