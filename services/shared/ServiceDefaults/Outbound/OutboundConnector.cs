using System.Net;
using System.Net.Sockets;

namespace ScheduledPosts.ServiceDefaults.Outbound;

/// <summary>
/// The connect step of clients that call user-supplied URLs: resolves the host itself and connects only to addresses
/// the <see cref="OutboundPolicy"/> allows, so a name that (re)resolves to a private, loopback or link-local address
/// is refused at connect time (DNS rebinding), before a byte is sent.
/// </summary>
public sealed class OutboundConnector(OutboundPolicy policy)
{
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        string host = context.DnsEndPoint.Host.Trim('[', ']');
        IPAddress[] resolved = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        IPAddress[] addresses = [.. resolved.Where(policy.Allows)];
        if (addresses.Length == 0)
        {
            throw new OutboundAddressRefusedException(host);
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>The <see cref="OutboundPolicy"/> refused every address a host resolves to: nothing was sent.</summary>
public sealed class OutboundAddressRefusedException : HttpRequestException
{
    public OutboundAddressRefusedException(string host)
        : base($"{host} resolves to no allowed address; nothing is sent to loopback, private, link-local or metadata addresses.") => Host = host;

    public string Host { get; } = "";

    /// <summary>The refusal in <paramref name="e"/> or its inner exceptions (handlers wrap a connect failure differently).</summary>
    public static OutboundAddressRefusedException? In(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is OutboundAddressRefusedException refused)
            {
                return refused;
            }
        }

        return null;
    }
}
