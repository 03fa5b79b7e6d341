from ledger.main import cli

cli()
