# plot.gp: one benchmark figure against connections, one line per server.
# bench/bench.py calls it with -e setting:
#   datafile   whitespace table: first row "conns NAME...", then one row per
#              connection count; "-" where a server has no figure (n/a, failed)
#   outfile    the image to write
#   term       pngcairo, png or svg
#   ylabel, plottitle
#   ncols      columns in datafile (1 + number of servers)
#   logy       1 for a logarithmic y axis
#   noisyfile  "conns value" rows of the noisy figures (bench/noise.py), ringed
if (term eq 'svg') {
    set terminal svg size 900,560 dynamic enhanced font 'Sans,12' background '#ffffff'
} else {
    if (term eq 'pngcairo') {
        set terminal pngcairo size 900,560 enhanced font 'Sans,11'
    } else {
        set terminal png size 900,560
    }
}
set output outfile
set datafile missing '-'
set key autotitle columnhead outside right top
set title plottitle
set xlabel 'connections (64-byte messages, one in flight each)'
set ylabel ylabel
set logscale x 10
set xrange [0.7:1500]
set xtics ('1' 1, '10' 10, '100' 100, '1000' 1000)
if (logy) { set logscale y 10; set format y '%.0s%c' } else { set yrange [0:*]; set format y '%.0s%c' }
set grid xtics ytics mytics
set pointsize 1.2
# One colour per server, none repeated (gnuplot's default cycle has 8, and
# would give two models one colour), and a dash pattern on top that changes
# with every colour, so that neighbours differ in print and for colour-blind
# eyes too. Sixteen colours: every model of models/models.list and room to grow.
colors = '#1f77b4 #ff7f0e #2ca02c #d62728 #9467bd #8c564b #e377c2 #17becf #bcbd22 #7f7f7f #393b79 #637939 #8c6d31 #843c39 #7b4173 #3182bd'
color(i) = word(colors, (i - 2) % words(colors) + 1)
dash(i) = (i - 2) % 4 + 1
# Baseline (last column) drawn thick, dashed and black so the models read
# against it; noisy points ringed.
plot for [i=2:ncols-1] datafile using 1:i with linespoints lw 2 pt (i+4) lc rgb color(i) dt dash(i), \
     datafile using 1:ncols with linespoints lw 3 dt 2 lc rgb 'black' pt 7, \
     noisyfile using 1:2 with points pt 6 ps 3 lc rgb 'black' title '~ noisy' noenhanced
