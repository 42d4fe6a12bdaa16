/* Deliberately unsafe string handling (scanner sample). */
#include <stdio.h>
#include <string.h>

void greet(const char *name) {
    char buf[16];
    strcpy(buf, name);
    printf(name);
}

void describe(char *out, const char *what, int n) {
    sprintf(out, "%s: %d", what, n);
}

int main(int argc, char **argv) {
    char line[64];
    gets(line);
    if (argc > 1) {
        greet(argv[1]);
    }
    return 0;
}
