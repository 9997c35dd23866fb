"""mmengine metric that writes a WIDER FACE test submission: the folder the benchmark's server takes (one
``<event>/<image>.txt`` per image of the test list, :mod:`mmdet_face.evaluation.functional.widerface_submission`),
checked against the image list and zipped. The test split's boxes are held by the server
(http://shuoyang1213.me/WIDERFACE/), so nothing is scored here.
"""
from typing import Optional, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from mmdet_face.registry import METRICS
from mmdet_face.utils.output_file import check_output_path
from ..functional.widerface_submission import SCORE_RANGE, check_submission, read_image_list, zip_submission
from .widerface_metric import check_submission_folder_free, replace_submission_folder, sample_prediction


class SubmissionCheckError(ValueError):
    """The written submission does not pass :func:`check_submission`; the message lists the problems."""


@METRICS.register_module()
class WiderFaceSubmissionMetric(BaseMetric):
    """Write the model's detections as a WIDER FACE submission folder, check it, zip it.

    Args:
        outfile_prefix (str): the submission folder. A folder already holding a submission is refused unless
            ``overwrite``; a file, or a folder holding anything else, always (checked when the metric is built,
            before any inference).
        image_list (str, optional): the images the submission answers, an official image list such as
            ``wider_face_test_filelist.txt`` (:func:`read_image_list`); every listed image must have its file.
            Without it, the images the model saw are the list.
        zip_file (str, optional): the archive written once the check passes (default ``<outfile_prefix>.zip``;
            ``False``: none). An existing file is refused unless ``overwrite``.
        overwrite (bool): replace an earlier submission folder and archive.
        score_range (tuple): the inclusive range of valid scores, ``(0, 1)`` for the probabilities of this
            package's detectors.
        collect_device, prefix: see :class:`mmengine.evaluator.BaseMetric`.

    Each data sample must carry ``img_path`` (event = parent folder name, image name = file stem) and
    ``pred_instances.bboxes`` (x1y1x2y2 float pixels in the original image) with ``pred_instances.scores``; the
    files hold ``x y w h score``. Returns ``{'images': number of files, 'boxes': number of boxes}`` (logged as
    ``widerface_submission/images``). A submission that fails its check raises :class:`SubmissionCheckError`
    listing each problem (the folder stays for inspection; no archive is written).
    """
    default_prefix: Optional[str] = 'widerface_submission'

    def __init__(self,
                 outfile_prefix: str,
                 image_list: Optional[str] = None,
                 zip_file=None,
                 overwrite: bool = False,
                 score_range: Sequence[float] = SCORE_RANGE,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not outfile_prefix:
            raise ValueError('WiderFaceSubmissionMetric: outfile_prefix (the submission folder) is required')
        self.outfile_prefix = outfile_prefix.rstrip('/\\')
        self.zip_file = None if zip_file is False else (zip_file or self.outfile_prefix + '.zip')
        self.overwrite = overwrite
        self.score_range = tuple(score_range)
        self.image_list = image_list
        self._listed = read_image_list(image_list) if image_list else None
        self._wrote = self._wrote_zip = False  # what this metric wrote itself is replaced on the next evaluation
        check_submission_folder_free(self.outfile_prefix, overwrite)
        if self.zip_file:
            check_output_path(self.zip_file, overwrite)

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            self.results.append(sample_prediction(sample, type(self).__name__))

    def compute_metrics(self, results: list) -> dict:
        logger = MMLogger.get_current_instance()
        predictions = {}
        for res in results:  # a sampler may pad ranks with repeats; each image is written once
            predictions.setdefault(res['event'], {})[res['name']] = res['pred']
        if self._listed is not None:
            names, linenos = self._listed
        else:
            names = [f'{event}/{name}.jpg' for event, images in predictions.items() for name in images]
            linenos = None
        check_submission_folder_free(self.outfile_prefix, self.overwrite or self._wrote)
        replace_submission_folder(self.outfile_prefix, predictions)
        self._wrote = True
        problems = check_submission(self.outfile_prefix, names, self.image_list, linenos, self.score_range)
        if problems:
            shown = problems[:20] + ([f'... ({len(problems)} problems in all)'] if len(problems) > 20 else [])
            raise SubmissionCheckError(f'{self.outfile_prefix}: the submission does not pass its check, so it was '
                                       'not zipped:\n  ' + '\n  '.join(shown))
        num_files = sum(len(images) for images in predictions.values())
        num_boxes = sum(len(pred) for images in predictions.values() for pred in images.values())
        logger.info(f'WIDER FACE submission written to {self.outfile_prefix}: {num_files} images, {num_boxes} '
                    'boxes; checked' + (f' against {self.image_list}' if self.image_list else ''))
        if self.zip_file:
            zip_submission(self.outfile_prefix, self.zip_file, overwrite=self.overwrite or self._wrote_zip)
            self._wrote_zip = True
            logger.info(f'zipped to {self.zip_file}')
        return {'images': num_files, 'boxes': num_boxes}
