"""Every name's forms for its running error bounds (:mod:`conformance.numerics.form_bounds`): name -> (float
arguments, broadcast together; other arguments, passed as they are; forms(arithmetic, *floats, *others)).
"""

from __future__ import annotations

from conformance.numerics.box_forms import FORMS as BOX_FORMS
from conformance.numerics.centernet_forms import FORMS as CENTERNET_FORMS
from conformance.numerics.crossentropy_forms import FORMS as CROSSENTROPY_FORMS
from conformance.numerics.frcnn_forms import FORMS as FRCNN_FORMS
from conformance.numerics.yolov3_forms import FORMS as YOLOV3_FORMS

FORMS = {**BOX_FORMS, **CROSSENTROPY_FORMS, **CENTERNET_FORMS, **FRCNN_FORMS, **YOLOV3_FORMS}
