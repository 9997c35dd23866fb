from setuptools import find_packages, setup


def read_requirements(path):
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f if line.split('#')[0].strip()]


version = {}
exec(open('mmdet_face/version.py').read(), version)

setup(
    name='mmdet-face',
    version=version['__version__'],
    description='Face detection (SCRFD, SRN, AInnoFace, RetinaFace, DSFD) on MMDetection 3.x',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'search_tools')),
    python_requires='>=3.9',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        'optional': read_requirements('requirements/optional.txt'),
    },
    license='Apache-2.0',
    zip_safe=False,
)
