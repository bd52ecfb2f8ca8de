from sieve.cli import app

app()
