"""Tests of the label renderer (labels/): real fonts, real QR decoding, real rasterisers."""
