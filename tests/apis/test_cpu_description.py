"""cpu_description names the CPU and the instruction sets that decide FP32 and INT8 speed, for the benchmarks'
reports (INT8 gains 1.5x on an AVX-512 VNNI CPU and about 1.1x on an AVX2-only one)."""
from mmdet_face.apis.cpu_runtime import CPU_FEATURES, cpu_description

ZEN3 = '''processor\t: 0
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse4_1 sse4_2 avx f16c fma avx2
processor\t: 1
model name\t: AMD EPYC 7B13
flags\t\t: fpu sse4_1 sse4_2 avx f16c fma avx2
'''


def test_names_model_count_and_features():
    assert cpu_description(ZEN3) == ('AMD EPYC 7B13, 2 logical CPUs, avx2 (no avx512f, avx512_vnni, avx_vnni, '
                                     'amx_int8)')
    zen4 = ZEN3.replace('avx2', 'avx2 avx512f avx512bw avx512_vnni')
    assert cpu_description(zen4) == 'AMD EPYC 7B13, 2 logical CPUs, avx2 avx512f avx512_vnni (no avx_vnni, amx_int8)'
    everything = ZEN3.replace('avx2', ' '.join(CPU_FEATURES))
    assert cpu_description(everything).endswith('logical CPUs, ' + ' '.join(CPU_FEATURES))
    assert cpu_description(ZEN3.replace(' avx f16c fma avx2', '')).endswith('none of ' + ', '.join(CPU_FEATURES))


def test_without_cpuinfo():
    assert cpu_description('').endswith('logical CPUs, instruction sets unknown')
    assert 'logical CPUs' in cpu_description()  # this machine's
