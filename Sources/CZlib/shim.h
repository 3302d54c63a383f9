// zlib's inflate/deflate streams, used to read and write gzipped IDX files.
// Include paths come from pkg-config ("zlib"); nothing here names a path.
#include <zlib.h>
