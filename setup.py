import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(path):
    """Requirement lines of ``path`` without comments and blank lines."""
    with open(osp.join(HERE, path)) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


version = {}
with open(osp.join(HERE, 'mmdet_face', 'version.py')) as f:
    exec(f.read(), version)
with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='mmdet-face',
    version=version['__version__'],
    description='Face detectors (SCRFD, RetinaFace, SRN, AInnoFace) as an MMDetection 3.x plugin',
    long_description=long_description,
    long_description_content_type='text/markdown',
    # the library only: configs/, tools/ and tests/ stay in the repository (the package never reads them)
    packages=find_packages(include=('mmdet_face', 'mmdet_face.*')),
    python_requires='>=3.10',  # numba>=0.61 (runtime.txt) needs 3.10
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
