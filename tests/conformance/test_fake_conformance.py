"""The built-in fake passes the driver conformance suite, with itself as the double."""

from __future__ import annotations

import pytest

from ai_core.drivers.base import ProviderConfig
from ai_core.drivers.fake import FakeDriver
from ai_core.testing import ConformanceProfile, DriverConformance, FakeDouble


class TestFakeDriverConformance(DriverConformance):
    @pytest.fixture
    def conformance_driver(self) -> FakeDriver:
        return FakeDriver()

    @pytest.fixture
    def conformance_double(self, conformance_driver: FakeDriver) -> FakeDouble:
        return FakeDouble(conformance_driver)  # reads what the fake was sent, for the checks that need it

    @pytest.fixture
    def conformance_profile(self) -> ConformanceProfile:
        return ConformanceProfile(model="echo")

    @pytest.fixture
    def conformance_bad_credentials_driver(self) -> FakeDriver:
        return FakeDriver(ProviderConfig(provider="fake", options={"valid_key": False}))
