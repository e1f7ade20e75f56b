"""``python -m emotune``: the same CLI as the ``emotune`` command."""

from emotune.cli.main import main

if __name__ == "__main__":
    main()
