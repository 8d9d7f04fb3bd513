"""bfloat16 inside numba kernels, which have no bf16 type: a bf16 array is
passed as its int16 bits (``tensor.view(torch.int16).numpy()``), and the
kernels read and write it through :func:`widen` and :func:`narrow`, which
are the identity for float arrays. Work stays float32.

Why: under bf16 autocast the fused LIF's current and incoming gradient
arrive in bf16, and its spikes and outgoing gradient leave in bf16. Casting
each to float32 and back around the kernels was four extra passes over
``[T, B, ...]`` tensors (``aten::copy_``, about 9% of the CSNN's bf16 step on
the 2-core AMD EPYC). Read and written as bits, a bf16 tensor also moves
half the bytes.

Both conversions are written as LLVM integer ops (``intrinsic``), so a loop
that uses them still vectorises. Narrowing rounds to nearest, ties to even,
as PyTorch's float->bf16 cast does, so results are bit-equal to casting;
a NaN becomes the quiet NaN 0x7FC0, as in c10's scalar cast (ATen's AVX-512
cast gives 0xFFFF; both are NaN).
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

_QUIET_NAN = 0x7FC0


@intrinsic
def _float_from_bf16_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        return builder.bitcast(builder.shl(builder.zext(args[0], i32), ir.Constant(i32, 16)), ir.FloatType())
    return types.float32(types.int16), codegen


@intrinsic
def _bf16_bits_from_float(typingctx, value):
    def codegen(context, builder, signature, args):
        i16, i32 = ir.IntType(16), ir.IntType(32)
        value = args[0]
        if value.type != ir.FloatType():
            value = builder.fptrunc(value, ir.FloatType())
        bits = builder.bitcast(value, i32)
        lowest_kept = builder.and_(builder.lshr(bits, ir.Constant(i32, 16)), ir.Constant(i32, 1))
        rounded = builder.add(builder.add(bits, ir.Constant(i32, 0x7FFF)), lowest_kept)
        narrowed = builder.trunc(builder.lshr(rounded, ir.Constant(i32, 16)), i16)
        is_nan = builder.fcmp_unordered("uno", value, value)
        return builder.select(is_nan, ir.Constant(i16, _QUIET_NAN), narrowed)
    return types.int16(value), codegen


def widen(element):
    """An array element as a float: bf16 bits (int16) become float32, floats stay."""


@overload(widen, inline="always")
def _widen(element):
    if isinstance(element, types.Integer):
        return lambda element: _float_from_bf16_bits(element)
    return lambda element: element


def narrow(value, row):
    """``value`` as an element of ``row``: bf16 bits when ``row`` holds int16, else itself."""


@overload(narrow, inline="always")
def _narrow(value, row):
    if isinstance(row.dtype, types.Integer):
        return lambda value, row: _bf16_bits_from_float(value)
    return lambda value, row: value
