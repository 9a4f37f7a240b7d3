# Reading CPython's int digits directly, for the compiled modules that convert
# many small ints (detectors/blob_pack.pyx, detectors/fold.pyx): Cython's own
# conversions call PyLong_AsLongLongAndOverflow (or PyLong_AsUnsignedLongLong
# beyond two digits). Only CPython 3.11's layout of 30-bit digits is read;
# any other build answers 0 and the caller converts as before. Included
# (``include "cpython_ints.pxi"``), so that this one copy is what both read.

cdef extern from *:
    """
    /* An int of at most three 30-bit digits (|v| < 2^64) read from CPython 3.11's
       digits, without PyLong_AsLongLongAndOverflow's call: a blob is mostly ints.
       0: not read here (another layout or a larger int); 1: *v, a long long;
       2: *u, an unsigned beyond LLONG_MAX. */
    static inline int rw_read_int(PyObject* o, long long* v, unsigned long long* u) {
    #if PY_VERSION_HEX < 0x030C0000 && PYLONG_BITS_IN_DIGIT == 30 && !defined(Py_LIMITED_API)
        const digit* d = ((PyLongObject*)o)->ob_digit;
        unsigned long long m;
        switch (Py_SIZE(o)) {
            case 0: *v = 0; return 1;
            case 1: *v = (long long)d[0]; return 1;
            case -1: *v = -(long long)d[0]; return 1;
            case 2: *v = (long long)(d[0] | ((unsigned long long)d[1] << 30)); return 1;
            case -2: *v = -(long long)(d[0] | ((unsigned long long)d[1] << 30)); return 1;
            case 3:
                if (d[2] >= 16) return 0;
                m = d[0] | ((unsigned long long)d[1] << 30) | ((unsigned long long)d[2] << 60);
                if (m > 0x7FFFFFFFFFFFFFFFULL) { *u = m; return 2; }
                *v = (long long)m;
                return 1;
        }
    #endif
        return 0;
    }
    """
    int rw_read_int(object o, long long* v, unsigned long long* u) noexcept
