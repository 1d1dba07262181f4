"""Memory-layout choices for BLAS: which way round to compute a product.

Nothing here changes a number: ``A @ B`` and ``(B^T @ A^T)^T`` are the same
matrix.  What changes is the memory order the result comes out in, and how
fast OpenBLAS computes it.  The arithmetic (``ops.arithmetic``) asks one
question, :func:`columnwise`, and stays readable; the reasons live here.
"""
from __future__ import annotations


def stored_transposed(array) -> bool:
    """True for a 2-D array laid out column by column, e.g. a batch-last
    activation flattened for a Linear layer (a view, see ``conv``)."""
    return array.ndim == 2 and array.flags.f_contiguous and not array.flags.c_contiguous


def columnwise(like, rows: int, inner: int, cols: int) -> bool:
    """Whether to compute a gradient of shape (rows, cols), a sum of
    ``inner`` products, as the transpose of the swapped product: the same
    numbers, laid out column by column.  Two things decide:

    * a product whose inner dimension is over twice as long as the other
      two is a sum over many terms, such as a convolution's weight gradient
      (a sum over the batch and every pixel): its result is small, so its
      layout costs little, but OpenBLAS is faster (1.3x for the DCGAN's
      convolutions; 437 against 294 GFLOP/s) when the result has more rows
      than columns;
    * otherwise the result may be as large as an activation: it comes out
      in ``like``'s memory order, so that elementwise ops that meet it run
      over one memory order (a mixed pair is 2-3x slower in NumPy) and
      reshapes back to ``like``'s producers stay views."""
    if inner > 2 * rows and inner > 2 * cols:
        return rows < cols
    return stored_transposed(like)
