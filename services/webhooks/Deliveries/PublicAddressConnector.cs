using System.Net;
using System.Net.Sockets;
using ScheduledPosts.Webhooks.Endpoints;

namespace ScheduledPosts.Webhooks.Deliveries;

/// <summary>
/// The webhook client's connect step: resolves the host itself and connects only to addresses the
/// <see cref="DestinationPolicy"/> allows, so a name that (re)resolves to a private, loopback or link-local
/// address is refused at send time (DNS rebinding).
/// </summary>
public sealed class PublicAddressConnector(DestinationPolicy policy)
{
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken ct)
    {
        string host = context.DnsEndPoint.Host.Trim('[', ']');
        IPAddress[] resolved = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        IPAddress[] addresses = [.. resolved.Where(policy.Allows)];
        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"{host} resolves to no allowed address; webhooks are not sent to loopback, private or link-local networks.");
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
