// libhdf5 (Debian libhdf5-dev, serial build), for Keras model files (NNKeras only).
#include <hdf5.h>
