/* A small program of bale's own, built from source by hello.recipe.toml. */
#include <stdio.h>

int main(int argc, char **argv) {
    const char *who = argc > 1 ? argv[1] : "world";
    printf("hello, %s, from a package bale built from source\n", who);
    return 0;
}
