# EventstreamTest.pm - helpers shared by the pg_eventstream TAP tests.
#
# es_node() makes and starts a cluster with the server settings that
# scripts/test.sh wrote (wal_level=logical, output_plugin_libraries when
# this server build has it, ...).  read_events() parses a file of one JSON
# event per line, failing the test on a line that is not valid JSON.

package EventstreamTest;

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(es_node es_restart_after_kill read_events wait_for_events proc_status_kb);

# the settings of test/server_conf.sh: from the file scripts/test.sh
# wrote, or (under make installcheck, run from the source tree) made now
sub server_conf
{
	return slurp_file($ENV{ES_SERVER_CONF}) if $ENV{ES_SERVER_CONF};
	my $conf = `sh test/server_conf.sh pg_config`;
	die "test/server_conf.sh failed" if $? != 0 || $conf eq '';
	return $conf;
}

sub es_node
{
	my ($name) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	$node->append_conf('postgresql.conf', server_conf());
	$node->start;
	return $node;
}

# start a node again after SIGKILL; its old children may still hold
# shared memory a moment
sub es_restart_after_kill
{
	my ($node) = @_;
	for (1 .. 50)
	{
		# a failed start leaves the old pid behind; it is not running
		$node->{_pid} = undef;
		return if $node->start(fail_ok => 1);
		select(undef, undef, undef, 0.2);
	}
	die "server did not restart";
}

# the events in a file, as decoded JSON; every line must parse
sub read_events
{
	my ($file) = @_;
	my @events;
	my $bad = 0;
	return [] unless -e $file;
	open my $fh, '<', $file or die "could not open $file: $!";
	while (my $line = <$fh>)
	{
		chomp $line;
		next if $line eq '';
		my $ev = eval { decode_json($line) };
		if (!defined $ev)
		{
			diag "not JSON: $line" if $bad++ < 3;
			next;
		}
		push @events, $ev;
	}
	close $fh;
	is($bad, 0, "every line of $file is one JSON document") if $bad;
	return \@events;
}

# poll a file until $cond->(events) holds, for at most the default timeout
sub wait_for_events
{
	my ($file, $cond, $what) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (time < $deadline)
	{
		my $events = eval { read_events_quiet($file) };
		return $events if $events && $cond->($events);
		select(undef, undef, undef, 0.1);
	}
	fail("timed out waiting for $what");
	return read_events($file);
}

# like read_events, skipping a last line still being written
sub read_events_quiet
{
	my ($file) = @_;
	my @events;
	return [] unless -e $file;
	open my $fh, '<', $file or return [];
	while (my $line = <$fh>)
	{
		last unless $line =~ /\n\z/;
		chomp $line;
		next if $line eq '';
		my $ev = eval { decode_json($line) };
		push @events, $ev if defined $ev;
	}
	close $fh;
	return \@events;
}

# a field of /proc/<pid>/status in kB (VmHWM, RssAnon, ...)
sub proc_status_kb
{
	my ($pid, $field) = @_;
	open my $fh, '<', "/proc/$pid/status" or return undef;
	while (<$fh>)
	{
		return $1 if /^\Q$field\E:\s+(\d+)\s+kB/;
	}
	return undef;
}

1;
