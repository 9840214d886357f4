from journeys.cli import main

main()
