"""cnr.prediction: predict checks its model and its batch size before it runs."""
from __future__ import annotations

import re

import pytest
import torch

from cnr.classifiers import load_classifier
from cnr.errors import InputError
from cnr.prediction import predict


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_predict_refuses_a_batch_size_that_is_not_a_positive_integer(bad):
    with pytest.raises(InputError, match=rf"^batch_size\b.*{re.escape(str(bad))}"):
        predict(load_classifier("fmnist-cnn"), torch.rand(2, 1, 28, 28), batch_size=bad)


def test_predict_takes_a_module_not_a_function():
    with pytest.raises(InputError, match="got function"):
        predict(lambda t: t, torch.rand(2, 1, 28, 28))
