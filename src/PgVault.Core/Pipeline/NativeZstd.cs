using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PgVault.Core.Pipeline;

/// <summary>
/// zstd through the system's libzstd (libzstd.so.1, which dpkg and PostgreSQL itself depend on
/// on Debian): one-shot compression of the 1 MiB frames of pack members
/// (<see cref="ZstdFrameStream"/>), streaming compression of every other object
/// (<see cref="NativeZstdWriteStream"/>: logical dumps, WAL, metadata) and the decoder of a
/// restore's members (<see cref="NativeZstdReadStream"/>). On pgbench data, level 3, one core, libzstd 1.5.4 compresses
/// 1.22 GB/s against 0.73 GB/s for ZstdSharp's managed port, and compression was half of a full
/// backup's CPU (issue 15, target 3). The frames are the same format either way (content size
/// and XXH64 checksum in every frame), and every reader decodes both. The library is loaded by
/// absolute path from the system's library directories, and only when it is root's and writable
/// by root alone (never from pgvault's own directory or LD_LIBRARY_PATH: a root restore must not
/// run another user's code); without a usable one (absent, older than 1.4.0, or
/// <c>PGVAULT_ZSTD=managed</c>) ZstdSharp is used.
/// </summary>
internal static unsafe class NativeZstd
{
    private const string Library = "libzstd.so.1";
    private const int CompressionLevelParameter = 100; // ZSTD_c_compressionLevel
    private const int ChecksumFlagParameter = 201;     // ZSTD_c_checksumFlag

    private static delegate* unmanaged<nint> s_createCCtx;
    private static delegate* unmanaged<nint, nuint> s_freeCCtx;
    private static delegate* unmanaged<nint, int, int, nuint> s_setParameter;
    private static delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint> s_compress2;
    private static delegate* unmanaged<nuint, nuint> s_compressBound;
    private static delegate* unmanaged<nuint, uint> s_isError;
    private static delegate* unmanaged<nuint, nint> s_getErrorName;
    private static delegate* unmanaged<nint> s_createDCtx;
    private static delegate* unmanaged<nint, nuint> s_freeDCtx;
    private static delegate* unmanaged<nint, int, int, nuint> s_setDParameter;
    private static delegate* unmanaged<nint, Buffer*, Buffer*, nuint> s_decompressStream;
    private static delegate* unmanaged<nint, Buffer*, Buffer*, int, nuint> s_compressStream2;
    private static delegate* unmanaged<nint, int, nuint> s_resetCCtx;

    // ZSTD_d_forceIgnoreChecksum (libzstd 1.4.7 and later); ZstdSharp is a port of the same header.
    private const int ForceIgnoreChecksumParameter = (int)ZstdSharp.Unsafe.ZSTD_dParameter.ZSTD_d_experimentalParam3;

    /// <summary>ZSTD_inBuffer and ZSTD_outBuffer: the same three fields.</summary>
    private struct Buffer
    {
        public byte* Data;
        public nuint Size;
        public nuint Position;
    }

    /// <summary>Whether libzstd is loaded: every zstd object is then compressed, and a restore's members decoded, by it (probed once per process).</summary>
    public static bool Available { get; } = Load();

    private static bool Load()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("PGVAULT_ZSTD") == "managed") return false;
        if (SystemLibrary() is not { } path || !NativeLibrary.TryLoad(path, out nint library)) return false;
        nint Export(string name) => NativeLibrary.TryGetExport(library, name, out nint address) ? address : 0;
        nint version = Export("ZSTD_versionNumber");
        // ZSTD_compress2, ZSTD_compressStream2 and ZSTD_CCtx_setParameter are stable from 1.4.0.
        if (version == 0 || ((delegate* unmanaged<uint>)version)() < 10400) return false;
        nint[] exports =
        [
            Export("ZSTD_createCCtx"), Export("ZSTD_freeCCtx"), Export("ZSTD_CCtx_setParameter"), Export("ZSTD_compress2"),
            Export("ZSTD_compressBound"), Export("ZSTD_isError"), Export("ZSTD_getErrorName"),
            Export("ZSTD_createDCtx"), Export("ZSTD_freeDCtx"), Export("ZSTD_DCtx_setParameter"), Export("ZSTD_decompressStream"),
            Export("ZSTD_compressStream2"), Export("ZSTD_CCtx_reset"),
        ];
        if (exports.Contains(0)) return false;
        s_createCCtx = (delegate* unmanaged<nint>)exports[0];
        s_freeCCtx = (delegate* unmanaged<nint, nuint>)exports[1];
        s_setParameter = (delegate* unmanaged<nint, int, int, nuint>)exports[2];
        s_compress2 = (delegate* unmanaged<nint, byte*, nuint, byte*, nuint, nuint>)exports[3];
        s_compressBound = (delegate* unmanaged<nuint, nuint>)exports[4];
        s_isError = (delegate* unmanaged<nuint, uint>)exports[5];
        s_getErrorName = (delegate* unmanaged<nuint, nint>)exports[6];
        s_createDCtx = (delegate* unmanaged<nint>)exports[7];
        s_freeDCtx = (delegate* unmanaged<nint, nuint>)exports[8];
        s_setDParameter = (delegate* unmanaged<nint, int, int, nuint>)exports[9];
        s_decompressStream = (delegate* unmanaged<nint, Buffer*, Buffer*, nuint>)exports[10];
        s_compressStream2 = (delegate* unmanaged<nint, Buffer*, Buffer*, int, nuint>)exports[11];
        s_resetCCtx = (delegate* unmanaged<nint, int, nuint>)exports[12];
        return true;
    }

    /// <summary>The first libzstd.so.1 in the system's library directories, if root owns it and alone may write it.</summary>
    private static string? SystemLibrary()
    {
        string? triplet = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x86_64-linux-gnu",
            Architecture.Arm64 => "aarch64-linux-gnu",
            _ => null,
        };
        string[] directories = triplet != null ? [$"/usr/lib/{triplet}", $"/lib/{triplet}", "/usr/lib64", "/usr/lib"] : ["/usr/lib64", "/usr/lib"];
        foreach (var directory in directories)
        {
            string path = Path.Combine(directory, Library);
            if (!File.Exists(path)) continue; // follows the link to the versioned file, as stat below does
            const UnixFileMode othersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
            string real = new FileInfo(path).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? path;
            return IO.Posix.GetOwner(real).Uid == 0 && (File.GetUnixFileMode(real) & othersWrite) == 0 ? real : null;
        }
        return null;
    }

    /// <summary>A compression context (ZSTD_CCtx) at one level, frames with their content checksum.</summary>
    public sealed class Context : SafeHandleZeroOrMinusOneIsInvalid
    {
        private Context(nint context) : base(ownsHandle: true) => SetHandle(context);

        public static Context Create(int level)
        {
            if (!Available) throw new InvalidOperationException("libzstd is not available");
            var context = new Context(s_createCCtx());
            if (context.IsInvalid) throw new OutOfMemoryException("ZSTD_createCCtx failed");
            Check(s_setParameter(context.handle, CompressionLevelParameter, level));
            Check(s_setParameter(context.handle, ChecksumFlagParameter, 1));
            return context;
        }

        /// <summary>Compresses <paramref name="input"/> into one frame in <paramref name="output"/> (at least <see cref="Bound"/> bytes); returns its length.</summary>
        public int Compress(ReadOnlySpan<byte> input, Span<byte> output)
        {
            fixed (byte* src = input)
            fixed (byte* dst = output)
            {
                nuint written = s_compress2(handle, dst, (nuint)output.Length, src, (nuint)input.Length);
                Check(written);
                return checked((int)written);
            }
        }

        /// <summary>
        /// One step of streaming compression (ZSTD_compressStream2): consumes from
        /// <paramref name="input"/>, produces into <paramref name="output"/>; with
        /// <paramref name="end"/> (ZSTD_e_end) it closes the frame, with <paramref name="flush"/>
        /// (ZSTD_e_flush) it ends the block. Returns the bytes consumed and produced, and whether
        /// that flush or end still has output to give (call again with more output room).
        /// </summary>
        public (int Consumed, int Produced, bool More) Stream(ReadOnlySpan<byte> input, Span<byte> output, bool flush = false, bool end = false)
        {
            fixed (byte* src = input)
            fixed (byte* dst = output)
            {
                var inBuffer = new Buffer { Data = src, Size = (nuint)input.Length };
                var outBuffer = new Buffer { Data = dst, Size = (nuint)output.Length };
                nuint remaining = s_compressStream2(handle, &outBuffer, &inBuffer, end ? 2 : flush ? 1 : 0);
                Check(remaining);
                return ((int)inBuffer.Position, (int)outBuffer.Position, remaining != 0);
            }
        }

        /// <summary>Forgets a frame in progress (ZSTD_reset_session_only); the level and checksum flag stay.</summary>
        public void ResetSession() => Check(s_resetCCtx(handle, 1));

        protected override bool ReleaseHandle()
        {
            s_freeCCtx(handle);
            return true;
        }
    }

    /// <summary>The largest frame <paramref name="length"/> input bytes compress to.</summary>
    public static int Bound(int length) => Available ? checked((int)s_compressBound((nuint)length)) : throw new InvalidOperationException("libzstd is not available");

    private static void Check(nuint code)
    {
        if (s_isError(code) != 0) throw new InvalidOperationException($"libzstd: {Marshal.PtrToStringUTF8(s_getErrorName(code))}");
    }

    /// <summary>A decompression context (ZSTD_DCtx); damaged input is an <see cref="InvalidDataException"/>.</summary>
    public sealed class Decoder : SafeHandleZeroOrMinusOneIsInvalid
    {
        private Decoder(nint context) : base(ownsHandle: true) => SetHandle(context);

        public static Decoder Create(bool frameChecksums)
        {
            if (!Available) throw new InvalidOperationException("libzstd is not available");
            var decoder = new Decoder(s_createDCtx());
            if (decoder.IsInvalid) throw new OutOfMemoryException("ZSTD_createDCtx failed");
            // A library too old for the parameter refuses it: it then checks the frames, only slower.
            if (!frameChecksums) _ = s_setDParameter(decoder.handle, ForceIgnoreChecksumParameter, 1);
            return decoder;
        }

        /// <summary>
        /// Decodes from <paramref name="input"/> into <paramref name="output"/>; returns the bytes
        /// consumed and produced, and whether a frame is still open (more input needed to end it).
        /// </summary>
        public (int Consumed, int Produced, bool InFrame) Decode(ReadOnlySpan<byte> input, Span<byte> output)
        {
            fixed (byte* src = input)
            fixed (byte* dst = output)
            {
                var inBuffer = new Buffer { Data = src, Size = (nuint)input.Length };
                var outBuffer = new Buffer { Data = dst, Size = (nuint)output.Length };
                nuint result = s_decompressStream(handle, &outBuffer, &inBuffer);
                if (s_isError(result) != 0) throw new InvalidDataException($"zstd: {Marshal.PtrToStringUTF8(s_getErrorName(result))}");
                return ((int)inBuffer.Position, (int)outBuffer.Position, result != 0);
            }
        }

        protected override bool ReleaseHandle()
        {
            s_freeDCtx(handle);
            return true;
        }
    }
}
