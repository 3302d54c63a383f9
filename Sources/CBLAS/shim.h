// The C interfaces the engine calls: CBLAS (sgemm, sgemv, saxpy, ...) and LAPACKE (sgeqrf, sorgqr, sposv, sgels).
// Include paths come from pkg-config ("openblas"); nothing here names a path.
#include <cblas.h>
#include <lapacke.h>
