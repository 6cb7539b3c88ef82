"""A training script that fails after printing a few lines."""

import os

print("loading data from", os.environ["SM_CHANNEL_TRAIN"])
print("epoch 0 loss=0.9")
raise ValueError("column 'income' has 12 missing values")
