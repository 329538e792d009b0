import pytest

from taxifare.trigger.local_runner.conditions import ConditionError, evaluate

VALUES = {"pipelinechannel--decision": "true", "pipelinechannel--n": 3.0, "flag": False}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("inputs.parameter_values['pipelinechannel--decision'] == 'true'", True),
        ("inputs.parameter_values['pipelinechannel--decision'] == 'false'", False),
        ("inputs.parameter_values['pipelinechannel--decision'] != \"true\"", False),
        ("int(inputs.parameter_values['pipelinechannel--n']) > 2", True),
        ("int(inputs.parameter_values['pipelinechannel--n']) <= 2", False),
        ("double(inputs.parameter_values['pipelinechannel--n']) == 3.0", True),
        ("!(int(inputs.parameter_values['pipelinechannel--n']) > 2) && true", False),
        (
            "!(int(inputs.parameter_values['pipelinechannel--n']) > 5) && "
            "!(int(inputs.parameter_values['pipelinechannel--n']) == 4)",
            True,
        ),
        ("inputs.parameter_values['flag'] || inputs.parameter_values['pipelinechannel--n'] >= 3", True),
        ("string(inputs.parameter_values['flag']) == 'false'", True),
    ],
)
def test_compiled_conditions(condition, expected):
    assert evaluate(condition, VALUES) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("inputs.parameter_values['missing'] == 'true'", "'missing' is not among the input parameters"),
        ("inputs.parameter_values['pipelinechannel--n'] == 'three'", "different types"),
        ("inputs.parameter_values['pipelinechannel--decision']", "not true or false"),
        ("size(inputs.parameter_values['x']) > 1", "unexpected 'size'"),
        ("inputs.parameter_values['pipelinechannel--decision'] == 'true' &&", "unexpected end"),
        ("int(inputs.parameter_values['pipelinechannel--decision']) > 1", "cannot convert 'true' with int()"),
    ],
)
def test_conditions_that_cannot_be_evaluated_say_why(condition, message):
    with pytest.raises(ConditionError, match=message):
        evaluate(condition, VALUES)
