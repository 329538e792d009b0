from taxifare.traffic_gen.cli import main

main()
