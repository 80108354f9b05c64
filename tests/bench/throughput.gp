# scripts/bench's chart: messages a second against payload size, for the
# bare Paho client and tether. gnuplot -e "datafile='...'; outfile='...'"
set terminal pngcairo size 900,560 font "sans,11"
set output outfile
set title "QoS 1 messages a second over mutual TLS to a local mosquitto"
set xlabel "payload (bytes)"
set ylabel "messages a second"
set logscale xy
set xtics ("64" 64, "256" 256, "1 Ki" 1024, "4 Ki" 4096, "16 Ki" 16384, "64 Ki" 65508)
set format y "%.0f"
set grid
set key top right
plot datafile using 1:2 with linespoints lw 2 pt 7 title "baseline: Paho client", \
     datafile using 1:4 with linespoints lw 2 pt 5 title "tether PublishBatch", \
     datafile using 1:3 with linespoints lw 2 pt 9 title "tether Publish (one call a message)"
