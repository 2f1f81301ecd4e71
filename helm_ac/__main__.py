"""`python -m helm_ac` runs the same CLI as the `helm-ac` command."""
from helm_ac.cli import main

if __name__ == "__main__":
    main()
