"""Store tests: show assertion details from the shared contract suite."""

import pytest

pytest.register_assert_rewrite("contract", "contract_actors", "contract_ordering", "store_support")
