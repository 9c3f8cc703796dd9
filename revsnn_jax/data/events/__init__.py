"""Event-camera data: ``streams`` (event arrays, checks, frames by equal count or time, N-MNIST-like saccade events
from still images), ``formats`` (readers and writers of the raw formats: N-MNIST ``.bin``, AEDAT 3.1, AEDAT 2.0)
and ``datasets`` (DVS128-Gesture, CIFAR10-DVS, N-MNIST and event digits: files, splits, frame settings, the
prepared cache). numpy only."""
