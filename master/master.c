/* placeholder replaced by the master implementation */
int main(void) { return 1; }
