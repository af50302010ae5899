using System.Globalization;
using ScheduledPosts.Testing;

namespace ScheduledPosts.Benchmarks.Stack;

/// <summary>A process's resident memory from <c>/proc/&lt;pid&gt;/status</c>: VmRSS now, VmHWM the highest since it started.</summary>
public static class ResidentMemory
{
    public static (double RssMb, double HighWaterMb)? Read(ServiceProcess service)
    {
        if (service.Pid is not { } pid || !File.Exists($"/proc/{pid}/status"))
        {
            return null;
        }

        double rss = 0, hwm = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) / 1024.0;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                hwm = Kilobytes(line) / 1024.0;
            }
        }

        return (rss, hwm);
    }

    private static long Kilobytes(string line) => long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    /// <summary>Samples every service's VmRSS until disposed, keeping the highest value per service.</summary>
    public sealed class Sampler : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private readonly Dictionary<string, double> _peaks = [];

        public Sampler(IEnumerable<ServiceProcess> services, TimeSpan interval)
        {
            var list = services.ToList();
            _loop = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(interval);
                do
                {
                    foreach (var service in list)
                    {
                        if (Read(service) is { } now)
                        {
                            lock (_peaks)
                            {
                                _peaks[service.Name] = Math.Max(_peaks.GetValueOrDefault(service.Name), now.RssMb);
                            }
                        }
                    }
                }
                while (await Next(timer));
            });
        }

        private async Task<bool> Next(PeriodicTimer timer)
        {
            try
            {
                return await timer.WaitForNextTickAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        public IReadOnlyDictionary<string, double> Peaks
        {
            get
            {
                lock (_peaks)
                {
                    return new Dictionary<string, double>(_peaks);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _stop.Dispose();
        }
    }
}
