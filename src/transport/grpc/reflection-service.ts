import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { status, type ServerDuplexStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type {
  ServerReflectionRequest as RequestV1,
  ServerReflectionResponse as ResponseV1,
} from '../../../generated/grpc/reflection/v1/reflection';
import { PACKAGE_ROOT } from '../../package-root';

/** The descriptor set `npm run generate` writes with `buf build`: every proto the server speaks, imports included. */
const DESCRIPTOR_SET = path.join(PACKAGE_ROOT, 'generated', 'inferd.binpb');

/**
 * Server reflection (grpc.reflection.v1 and v1alpha, which share one wire format) from the
 * descriptor set that buf compiles. Serving buf's own descriptors, rather than ones rebuilt at
 * run time, keeps map fields' entry messages exactly as protoc writes them, which Go clients
 * (grpcurl, buf curl) insist on.
 */
export class ReflectionService {
  private readonly files = new Map<string, FileDescriptorProto>();
  private readonly encoded = new Map<string, Uint8Array>();
  private readonly fileOfSymbol = new Map<string, string>();
  private readonly services: string[];

  private constructor(set: Uint8Array, served: readonly string[]) {
    for (const file of fromBinary(FileDescriptorSetSchema, set).file) {
      this.files.set(file.name, file);
      this.encoded.set(file.name, toBinary(FileDescriptorProtoSchema, file));
      this.index(file);
    }
    const missing = served.filter((s) => !this.fileOfSymbol.has(s));
    if (missing.length > 0) throw new Error(`${DESCRIPTOR_SET} lacks ${missing.join(', ')}: run npm run generate`);
    this.services = [...served];
  }

  /** Reads the descriptor set; `served` names the services the server registers (they are what list_services answers). */
  static load(served: readonly string[]): ReflectionService {
    return new ReflectionService(readFileSync(DESCRIPTOR_SET), served);
  }

  /** The handler, the same for both versions of the service. */
  handlers(): UntypedServiceImplementation {
    return {
      serverReflectionInfo: (call: ServerDuplexStream<RequestV1, ResponseV1>) => {
        call.on('data', (request: RequestV1) => call.write(this.answer(request)));
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    };
  }

  private answer(request: RequestV1): ResponseV1 {
    const base = { validHost: request.host, originalRequest: request };
    const notFound = (what: string): ResponseV1 => ({
      ...base,
      errorResponse: { errorCode: status.NOT_FOUND, errorMessage: `${what} not found` },
    });
    if (request.listServices !== undefined) {
      return { ...base, listServicesResponse: { service: this.services.map((name) => ({ name })) } };
    }
    if (request.fileByFilename !== undefined) {
      const name = request.fileByFilename;
      return this.files.has(name)
        ? { ...base, fileDescriptorResponse: { fileDescriptorProto: this.withDependencies(name) } }
        : notFound(`file ${name}`);
    }
    if (request.fileContainingSymbol !== undefined) {
      const file = this.fileOfSymbol.get(request.fileContainingSymbol.replace(/^\./, ''));
      return file !== undefined
        ? { ...base, fileDescriptorResponse: { fileDescriptorProto: this.withDependencies(file) } }
        : notFound(`symbol ${request.fileContainingSymbol}`);
    }
    if (request.allExtensionNumbersOfType !== undefined) {
      const type = request.allExtensionNumbersOfType;
      return this.fileOfSymbol.has(type)
        ? { ...base, allExtensionNumbersResponse: { baseTypeName: type, extensionNumber: [] } }
        : notFound(`type ${type}`);
    }
    if (request.fileContainingExtension !== undefined)
      return notFound(
        `extension ${request.fileContainingExtension.extensionNumber} of ${request.fileContainingExtension.containingType}`,
      );
    return { ...base, errorResponse: { errorCode: status.INVALID_ARGUMENT, errorMessage: 'empty reflection request' } };
  }

  /** The file and everything it imports, transitively, the file itself first. */
  private withDependencies(name: string): Uint8Array[] {
    const seen = new Set<string>();
    const visit = (n: string): void => {
      if (seen.has(n) || !this.files.has(n)) return;
      seen.add(n);
      for (const dep of this.files.get(n)!.dependency) visit(dep);
    };
    visit(name);
    return [...seen].map((n) => this.encoded.get(n)!);
  }

  private index(file: FileDescriptorProto): void {
    const prefix = file.package ? `${file.package}.` : '';
    const add = (symbol: string): void => void this.fileOfSymbol.set(symbol, file.name);
    const message = (m: DescriptorProto, scope: string): void => {
      const full = `${scope}${m.name}`;
      add(full);
      for (const f of m.field) add(`${full}.${f.name}`);
      for (const e of m.enumType) add(`${full}.${e.name}`);
      for (const n of m.nestedType) message(n, `${full}.`);
    };
    for (const m of file.messageType) message(m, prefix);
    for (const e of file.enumType) add(`${prefix}${e.name}`);
    for (const x of file.extension) add(`${prefix}${x.name}`);
    for (const s of file.service) {
      add(`${prefix}${s.name}`);
      for (const m of s.method) add(`${prefix}${s.name}.${m.name}`);
    }
  }
}
