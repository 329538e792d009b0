from taxifare.predictor.cli import main

main()
