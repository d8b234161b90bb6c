"""Moved to cnr.data.protocol (evaluation protocols are data sets now); this path stays for one release."""
from cnr.data.protocol import (  # noqa: F401
                               imagenet_cpu_images,
                               load_imagenet_cpu,
                               load_imagenet_protocol,
                               protocol_images,
                               select_protocol_images,
)
