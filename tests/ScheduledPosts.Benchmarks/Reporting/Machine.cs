using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;

namespace ScheduledPosts.Benchmarks.Reporting;

/// <summary>What the figures were measured on: they mean nothing without it.</summary>
public static class Machine
{
    public static async Task<string> DescribeAsync(string postgres)
    {
        string cpu = FirstValue("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString();
        string memory = FirstValue("/proc/meminfo", "MemTotal") is { } kb && long.TryParse(kb.Split(' ')[0], CultureInfo.InvariantCulture, out long total)
            ? $"{total / 1024.0 / 1024.0:0.0} GiB"
            : "unknown";
        string os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? RuntimeInformation.OSDescription
            : RuntimeInformation.OSDescription;
        string load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
        string pg;
        try
        {
            await using var connection = new NpgsqlConnection(postgres);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SHOW server_version", connection);
            pg = "PostgreSQL " + await command.ExecuteScalarAsync();
            await using var settings = new NpgsqlCommand("SELECT string_agg(name || '=' || setting, ', ' ORDER BY name) FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'max_connections', 'shared_buffers')", connection);
            pg += $" ({await settings.ExecuteScalarAsync()})";
        }
        catch (NpgsqlException e)
        {
            pg = $"PostgreSQL unreachable: {e.Message}";
        }

        return string.Join('\n',
            $"machine: {Environment.ProcessorCount} cores ({cpu}), {memory} RAM, {os}, kernel {Environment.OSVersion.Version}",
            $"runtime: {RuntimeInformation.FrameworkDescription}; {pg}; load average at start {load}");
    }

    private static string? FirstValue(string path, string key)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        return File.ReadLines(path)
            .Select(line => line.Split(':', 2))
            .Where(parts => parts.Length == 2 && parts[0].Trim() == key)
            .Select(parts => parts[1].Trim())
            .FirstOrDefault();
    }
}
