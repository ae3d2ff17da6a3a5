# idle.gp: the C10K curve, server CPU per message against the connections
# open (N idle + 10 active), one line per server. bench/idle_render.py calls
# it with -e setting:
#   datafile   whitespace table: first row "conns NAME...", then one row per
#              cell; "-" where a server has no figure (n/a, failed)
#   noisyfile  "conns cpu" rows of the noisy figures, ringed in black
#   outfile, term (pngcairo, png or svg), ncols (1 + number of servers)
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
set title 'Server CPU per message beside idle connections (10 active, 2,000 msg/s)'
set xlabel 'connections open (10 active + N idle)'
set ylabel 'server CPU µs per message (median)'
set logscale xy 10
set xrange [7:40000]
set xtics ('10' 10, '100' 100, '1k' 1000, '10k' 10000)
set grid xtics ytics mytics
set pointsize 1.2
# Thirteen colours, and a dash pattern and a point shape that change with
# them, so that no two servers look alike even in grey.
array C[13] = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', \
               '#e377c2', '#17becf', '#bcbd22', '#7f7f7f', '#000080', '#008080', '#800000']
plot for [i=2:ncols] datafile using 1:i with linespoints lw 2 \
        lc rgb C[(i-2)%13+1] dt 1+(i-2)%5 pt 1+(i-2)%13, \
     noisyfile using 1:2 with points pt 6 ps 3 lc rgb 'black' title '~ noisy' noenhanced
