from hameau.cli import main

main()
