using System.Collections.Concurrent;
using System.Diagnostics;

namespace ScheduledPosts.Testing;

/// <summary>One service running as its own OS process, from its build output, so a test can kill it for real.</summary>
public sealed class ServiceProcess(string name, string assemblyPath, IReadOnlyDictionary<string, string> environment, Uri healthUrl) : IAsyncDisposable
{
    private readonly ConcurrentQueue<string> _output = new();
    private Process? _process;

    public string Name => name;

    /// <summary>Where it says it is ready (<c>/readyz</c>: its database and broker reachable) or, without one, alive.</summary>
    public Uri HealthUrl => healthUrl;

    /// <summary>The OS process id while it runs, e.g. to read its memory from <c>/proc</c>.</summary>
    public int? Pid => _process is { HasExited: false } process ? process.Id : null;

    /// <summary>
    /// How long a start may take to become ready. Generous: at a load of 70–100 on two cores, five .NET processes
    /// starting at once have taken over a minute.
    /// </summary>
    public static readonly TimeSpan StartupTimeout = TimeSpan.FromMinutes(3);

    /// <summary>Starts it and returns once it is ready; <see cref="PortTakenException"/> when another process holds one of its ports.</summary>
    public async Task StartAsync()
    {
        var info = new ProcessStartInfo("dotnet", [assemblyPath])
        {
            WorkingDirectory = Path.GetDirectoryName(assemblyPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in environment)
        {
            info.Environment[key] = value;
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {name}");
        _process.OutputDataReceived += (_, e) => Record(e.Data);
        _process.ErrorDataReceived += (_, e) => Record(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + StartupTimeout;
        while (true)
        {
            ThrowIfExited();
            try
            {
                if ((await http.GetAsync(healthUrl)).IsSuccessStatusCode)
                {
                    // Still running: a process that lost its port to another exits, while the other may answer here.
                    ThrowIfExited();
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{name} did not become ready at {healthUrl}:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    private void ThrowIfExited()
    {
        if (_process is { HasExited: true } process)
        {
            process.WaitForExit(); // the rest of what it printed
            // Kestrel's "Failed to bind to address http://127.0.0.1:…: address already in use."
            throw CountLines("address already in use") > 0
                ? new PortTakenException($"{name} could not bind its port:\n{Output}")
                : new InvalidOperationException($"{name} exited with {process.ExitCode}:\n{Output}");
        }
    }

    /// <summary>SIGKILL: no graceful shutdown, whatever was in flight is cut off.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// The last 200 lines it printed, without stack frames: a fault repeated under a broker outage would otherwise fill
    /// them with frames and hide what the service said before and after.
    /// </summary>
    public string Output => string.Join('\n', _output.Where(line => !IsStackFrame(line)).TakeLast(200));

    private static bool IsStackFrame(string line)
    {
        var text = line.AsSpan(line.IndexOf(']') + 1).TrimStart();
        return text.StartsWith("at ", StringComparison.Ordinal) || text.StartsWith("--- End of", StringComparison.Ordinal);
    }

    /// <summary>How many of the lines it printed (over all its runs, not only the last 200) contain <paramref name="text"/>.</summary>
    public int CountLines(string text) => _output.Count(line => line.Contains(text, StringComparison.Ordinal));

    private void Record(string? line)
    {
        if (line is not null)
        {
            _output.Enqueue($"[{name}] {line}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
    }
}

/// <summary>A service exited at start because another process had taken one of its ports in the meantime.</summary>
public sealed class PortTakenException(string message) : Exception(message);
