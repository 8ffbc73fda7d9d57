"""Seeds the load test's users (manage.py shell < this, with the stack's environment); prints LOAD_TOKENS."""

import os

from django.contrib.auth import get_user_model

from apps.keys.services import access_token_create
from apps.keys.vault import provider_key_create
from apps.providers.models import ProviderConfig
from apps.providers.services import provider_preference_set

fake = os.environ["LOAD_FAKE_PROVIDER_URL"]
ProviderConfig.objects.filter(name="openai").update(base_url=fake + "/v1")
tokens = []
for i in range(int(os.environ.get("LOAD_USERS", "50"))):
    user, _ = get_user_model().objects.get_or_create(username=f"load{i:03d}")
    key = provider_key_create(user=user, provider_name="openai", key=f"sk-load-test-key-{i:04d}")
    provider_preference_set(user=user, provider_name="openai")
    tokens.append(f"{access_token_create(user=user, name='load').plaintext}:{key.pk}")
print("LOAD_TOKENS=" + ",".join(tokens))
