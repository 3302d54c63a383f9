// NNImages: a user's own photos. PNG (libpng, CPNG) and JPEG (libjpeg-turbo, CTurboJPEG) decoding and
// folders of class subfolders as datasets (Keras `image_dataset_from_directory`).
