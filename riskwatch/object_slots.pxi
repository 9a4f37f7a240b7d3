# Writing a fresh object's __slots__ directly, at the offsets their member
# descriptors name, for the compiled modules that make many small objects
# (riskwatch/plain_record.pyx: Transactions; detectors/fold.pyx: StateUpdates).
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
