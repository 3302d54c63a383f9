// libpng's simplified API (png_image_write_to_memory, png_image_begin_read_from_memory), used to
// write and read the report's figures. Include paths come from pkg-config ("libpng").
#include <png.h>
