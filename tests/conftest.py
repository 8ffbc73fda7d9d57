from tests.fakes.fixtures import *  # noqa
