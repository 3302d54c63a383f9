// libjpeg-turbo's TurboJPEG API (Debian libturbojpeg0-dev), for decoding JPEG photos (NNImages only).
#include <turbojpeg.h>
