"""The real JPEG codec on image batches, QF sampling, and the gradients attacks take through it.

Three ways to differentiate "compress with JPEG", because the codec itself has no gradient:
``jpeg_bpda`` (identity backward, the paper's BPDA), ``jpeg_surrogate`` (real forward, backward
of kornia's differentiable JPEG) and ``jpeg_differentiable`` (kornia's approximation both ways).

Default codec: simplejpeg 1.9 (libjpeg-turbo 3.1.2 through its TurboJPEG API). Measured against
Pillow 12 (the same libjpeg-turbo through libjpeg's API, as in the paper's legacy code; the
decoders agree bit for bit, the encoders differ): TurboJPEG uses libjpeg's fast integer forward
DCT below QF 96 and the accurate one from QF 96, Pillow always the accurate one, so

- QF >= 96: bit-identical to Pillow;
- QF < 96: some quantized DCT coefficients round the other way. On natural images (Fashion-MNIST,
  scikit-image photo crops, 8-64 px, every QF) the mean absolute difference over a batch is
  0.3-1.0/255 (largest at QF 95), on any one image of 16 px or more at most 7.2/255 (QF 2), on
  a lone 8x8 block up to 25/255 (QF 1-5); single pixels can differ by up to ~80/255 at low QF.
  Distortion against the original is the same within 0.1 dB PSNR, except QF 90-95, where the
  fast DCT loses up to 0.8 dB. ``tests/test_jpeg.py`` checks these bounds (cnr.jpeg.codec's constants).

``backend="pillow"`` gives Pillow's output exactly, at about a quarter of the speed.

The package: quality (QF checks and draws), codec (the real codec), gradients (the three differentiable views).
"""
from cnr.jpeg.codec import (BACKENDS, JPEG_MAX_SIDE, MIN_SIZE, PILLOW_EXACT_FROM_QF, PILLOW_MAX_BATCH_MEAN_ABS,
                            PILLOW_MAX_IMAGE_MEAN_ABS, jpeg_roundtrip, num_threads)
from cnr.jpeg.gradients import (KORNIA_BLOCK, KORNIA_MAX_MEAN_ABS, KORNIA_MAX_MEAN_ABS_QF50, jpeg_bpda,
                                jpeg_differentiable, jpeg_surrogate)
from cnr.jpeg.quality import QF_MAX, QF_MIN, sample_qf

__all__ = ["BACKENDS", "JPEG_MAX_SIDE", "KORNIA_BLOCK", "KORNIA_MAX_MEAN_ABS", "KORNIA_MAX_MEAN_ABS_QF50", "MIN_SIZE",
           "PILLOW_EXACT_FROM_QF", "PILLOW_MAX_BATCH_MEAN_ABS", "PILLOW_MAX_IMAGE_MEAN_ABS", "QF_MAX", "QF_MIN",
           "jpeg_bpda", "jpeg_differentiable", "jpeg_roundtrip", "jpeg_surrogate", "num_threads", "sample_qf"]
