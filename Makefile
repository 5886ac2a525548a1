.PHONY: demo test test-postgres lint bench
demo:           ## install and run web + worker + sandbox with demo data
	bash scripts/demo.sh
test:           ## install and run the test suite on SQLite
	bash scripts/test.sh
test-postgres:  ## the same on the local PostgreSQL
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/fenicia bash scripts/test.sh
lint:
	.venv/bin/ruff check .
bench:
	bash bench/run_all.sh
